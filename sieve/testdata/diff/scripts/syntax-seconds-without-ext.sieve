# messages: m01-plain.eml m16-boss.eml
require "vacation";
vacation :seconds 100 "x";
