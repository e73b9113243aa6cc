require ["vacation", "vacation-seconds"];
vacation :seconds 90000 :subject "Away" "away";
