# messages: m01-plain.eml
if address "subject" "x" { keep; }
