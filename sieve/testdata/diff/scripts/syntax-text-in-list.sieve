# messages: m01-plain.eml m16-boss.eml
if header :contains "subject" [text:
Hello
.
, "zzz"] { discard; }
