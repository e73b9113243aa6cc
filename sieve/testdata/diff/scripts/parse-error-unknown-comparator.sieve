# messages: m01-plain.eml
if header :comparator "i;foo" "subject" "1" { keep; }
