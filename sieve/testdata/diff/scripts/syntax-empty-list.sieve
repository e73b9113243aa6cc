# messages: m01-plain.eml m16-boss.eml
if header :is "subject" [] { keep; }
