# messages: m01-plain.eml
require "include";
include "does-not-exist";
