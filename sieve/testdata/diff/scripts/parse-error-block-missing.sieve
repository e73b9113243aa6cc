# messages: m01-plain.eml
if true;
