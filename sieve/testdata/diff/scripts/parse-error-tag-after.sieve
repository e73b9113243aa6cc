# messages: m01-plain.eml
if header "subject" :contains "x" { keep; }
