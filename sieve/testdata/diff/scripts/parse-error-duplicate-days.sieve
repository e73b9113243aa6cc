# messages: m01-plain.eml
require "duplicate";
if duplicate :days 2 { discard; }
