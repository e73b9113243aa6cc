# messages: m01-plain.eml m16-boss.eml
require "fileinto";
fileinto text: # a comment
Folder
.
;
