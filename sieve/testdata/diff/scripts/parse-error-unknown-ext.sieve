# messages: m01-plain.eml
require "x-nonexistent";
