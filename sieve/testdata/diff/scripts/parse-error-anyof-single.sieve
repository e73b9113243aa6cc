# messages: m01-plain.eml
if anyof true { keep; }
