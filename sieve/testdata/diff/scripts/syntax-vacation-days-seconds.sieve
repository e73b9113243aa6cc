# messages: m01-plain.eml m16-boss.eml
require "vacation-seconds";
vacation :days 1 :seconds 100 "x";
