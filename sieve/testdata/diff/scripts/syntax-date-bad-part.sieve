# messages: m01-plain.eml m16-boss.eml
require "date";
if date "date" "nonsense" "x" { discard; }
