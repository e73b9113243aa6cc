# messages: m01-plain.eml m16-boss.eml
require "fileinto";
require ["fileinto", "copy"];
fileinto :copy "A";
