# messages: m01-plain.eml
require "reject";
reject text:
no end
