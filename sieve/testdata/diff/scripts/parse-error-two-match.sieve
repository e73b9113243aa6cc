# messages: m01-plain.eml
if header :is :contains "subject" "x" { keep; }
