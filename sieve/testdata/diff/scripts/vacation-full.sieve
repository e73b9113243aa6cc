require "vacation";
vacation :days 3 :subject "Out of office" :from "bob@example.net" :addresses ["bob@example.net", "robert@example.net"] :handle "ooo-2024" "I am out of the office.";
