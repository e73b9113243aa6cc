# messages: m01-plain.eml m16-boss.eml
require "reject";
reject "line1
line2";
