# messages: m01-plain.eml m16-boss.eml
require ["regex", "comparator-i;ascii-numeric"];
if header :regex :comparator "i;ascii-numeric" "subject" "1" { keep; }
