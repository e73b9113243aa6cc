# messages: m01-plain.eml m16-boss.eml
REQUIRE "fileinto";
IF HEADER :CONTAINS "Subject" "hello" { FILEINTO "Upper"; }
