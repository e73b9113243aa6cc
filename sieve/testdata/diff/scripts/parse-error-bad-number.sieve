# messages: m01-plain.eml
if size :over 99999999999999999999999 { keep; }
