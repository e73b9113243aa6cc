# messages: m01-plain.eml m16-boss.eml
require "date";
if currentdate :originalzone "year" "2024" { discard; }
