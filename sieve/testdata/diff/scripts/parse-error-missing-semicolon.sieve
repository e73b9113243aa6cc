# messages: m01-plain.eml
keep
