# messages: m01-plain.eml
require "comparator-i;ascii-numeric";
if header :comparator "i;ascii-numeric" :contains "subject" "1" { keep; }
