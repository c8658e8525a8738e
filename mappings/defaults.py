"""The Salesforce objects Rox syncs and the basic fields of each: the minimum set used to de-duplicate on
writeback and to link records. The CRM Mappings tabs start from these; the preflight checks verify access to them.
"""

# Parents first: the order inbound sync follows.
STANDARD_OBJECTS = (
    "Product2",
    "Account",
    "Contact",
    "Lead",
    "Opportunity",
    "OpportunityLineItem",
    "Task",
    "Event",
)

# Rox only reads these (CRM Mappings shows them read-only).
READ_ONLY_OBJECTS = frozenset({"Product2", "OpportunityLineItem"})

BASIC_FIELDS: dict[str, tuple[str, ...]] = {
    "Account": (
        "Name",
        "Website",
        "Industry",
        "AnnualRevenue",
        "NumberOfEmployees",
        "BillingStreet",
        "BillingCity",
        "BillingState",
        "BillingPostalCode",
        "BillingCountry",
        "Phone",
        "OwnerId",
    ),
    "Contact": ("FirstName", "LastName", "Email", "Phone", "Title", "AccountId"),
    "Opportunity": ("Name", "AccountId", "Amount", "StageName", "CloseDate", "NextStep", "OwnerId"),
    "Lead": ("FirstName", "LastName", "Email", "Company", "Status", "Title", "Phone"),
    "Product2": ("Name", "ProductCode", "Family", "IsActive"),
    "OpportunityLineItem": ("OpportunityId", "Product2Id", "Quantity", "UnitPrice", "TotalPrice"),
    "Task": ("RoxActivityId__c", "Subject", "ActivityDate", "WhoId", "WhatId", "Status", "OwnerId"),
    "Event": ("RoxActivityId__c", "Subject", "StartDateTime", "EndDateTime", "WhoId", "WhatId", "OwnerId"),
}
