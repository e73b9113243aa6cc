# messages: m01-plain.eml m16-boss.eml
require "relational";
if header :value "subject" "x" { keep; }
