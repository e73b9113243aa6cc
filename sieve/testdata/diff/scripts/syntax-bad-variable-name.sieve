# messages: m01-plain.eml m16-boss.eml
require "variables";
set "a-b" "x";
