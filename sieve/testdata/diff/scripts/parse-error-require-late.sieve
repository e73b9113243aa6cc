# messages: m01-plain.eml
keep;
require "fileinto";
