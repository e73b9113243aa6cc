# messages: m01-plain.eml
stop 1;
