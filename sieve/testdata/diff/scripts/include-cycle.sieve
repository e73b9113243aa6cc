# messages: m01-plain.eml
require "include";
include "cycle-a";
