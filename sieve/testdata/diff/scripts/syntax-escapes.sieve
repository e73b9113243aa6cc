# messages: m01-plain.eml m16-boss.eml
require "fileinto";
fileinto "a\"b\\c\d";
