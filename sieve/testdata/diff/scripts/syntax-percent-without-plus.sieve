# messages: m01-plain.eml m16-boss.eml
require "spamtest";
if spamtest :percent "1" { keep; }
