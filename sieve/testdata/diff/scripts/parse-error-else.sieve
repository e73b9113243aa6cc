# messages: m01-plain.eml
else { keep; }
