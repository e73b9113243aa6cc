# messages: m01-plain.eml
require "editheader";
addheader "X Bad" "v";
