# messages: m01-plain.eml
require "regex";
if header :regex "subject" "(unclosed" { keep; }
