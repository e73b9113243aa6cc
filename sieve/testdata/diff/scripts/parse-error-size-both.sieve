# messages: m01-plain.eml
if size :over 1 :under 2 { keep; }
