# messages: m01-plain.eml
if header :is "subject "x" { keep; }
