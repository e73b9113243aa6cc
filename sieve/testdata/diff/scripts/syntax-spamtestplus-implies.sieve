# messages: m01-plain.eml m16-boss.eml
require "spamtestplus";
if spamtest "0" { discard; }
