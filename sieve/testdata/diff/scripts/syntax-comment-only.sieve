# messages: m01-plain.eml m16-boss.eml
# just a comment
/* and a bracket one */
