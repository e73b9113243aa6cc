# messages: m01-plain.eml m16-boss.eml
require ["encoded-character", "fileinto"];
fileinto "${unicode:D800}";
