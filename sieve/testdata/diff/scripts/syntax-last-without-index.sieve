# messages: m01-plain.eml m16-boss.eml
require "index";
if header :last "subject" "x" { keep; }
