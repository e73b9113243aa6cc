# messages: m01-plain.eml m16-boss.eml
require "body";
if body :raw :text "x" { discard; }
