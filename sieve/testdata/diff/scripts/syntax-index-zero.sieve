# messages: m01-plain.eml m16-boss.eml
require "index";
if header :index 0 "subject" "x" { keep; }
