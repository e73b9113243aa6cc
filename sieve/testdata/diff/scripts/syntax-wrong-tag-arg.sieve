# messages: m01-plain.eml m16-boss.eml
require "relational";
if header :count 1 "subject" "x" { keep; }
