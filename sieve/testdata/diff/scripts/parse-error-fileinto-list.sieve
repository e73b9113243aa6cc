# messages: m01-plain.eml
require "fileinto";
fileinto ["a", "b"];
