# messages: m01-plain.eml
require "envelope";
if envelope "x-part" "x" { keep; }
