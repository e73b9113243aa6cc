# messages: m01-plain.eml
/* never closed
keep;
