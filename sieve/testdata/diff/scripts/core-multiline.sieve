require "reject";
if header :contains "subject" "WON" {
  reject text:
Your message was refused.
..dot-stuffed line
.
;
}
