# messages: m01-plain.eml m16-boss.eml
require "editheader";
deleteheader :last "subject";
