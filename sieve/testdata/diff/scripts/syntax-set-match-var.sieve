# messages: m01-plain.eml m16-boss.eml
require "variables";
set "1" "x";
