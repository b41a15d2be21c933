//! EWS on the wire: the SOAP requests Booket sends, written from Microsoft's documented
//! shapes with every value escaped, and the answers read into typed structs with quick-xml's
//! serde support (it matches elements by local name, so the `m:`/`t:` prefixes a server
//! chooses do not matter). Only the fields Booket uses are read; anything else is skipped.
//!
//! The requests are written in `requests.rs`, the answers read in `answers.rs`; the tests
//! here put both against Microsoft-shaped answers.

mod answers;
mod requests;

pub use answers::*;
pub use requests::*;

pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const MESSAGES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/messages";
pub const TYPES_NS: &str = "http://schemas.microsoft.com/exchange/services/2006/types";

/// Who the request acts for: the owner by impersonation, or the service account itself
/// (delegate access names the owner's mailbox in each folder reference instead).
#[derive(Debug, Clone, Copy)]
pub struct Acting<'a> {
    pub owner: &'a str,
    pub impersonate: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    /// An answer shaped like the FindItem example in Microsoft's docs, with other prefixes.
    const FIND_ITEM: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header>
    <h:ServerVersionInfo MajorVersion="15" MinorVersion="2" MajorBuildNumber="1544" MinorBuildNumber="4"
      xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/>
  </s:Header>
  <s:Body>
    <m:FindItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"
        xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
      <m:ResponseMessages>
        <m:FindItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:RootFolder TotalItemsInView="3" IncludesLastItemInRange="false">
            <t:Items>
              <t:CalendarItem>
                <t:ItemId Id="AAMkA1" ChangeKey="DwAAAB1"/>
                <t:Subject>Samtale &amp; råd</t:Subject>
                <t:Start>2026-12-08T08:00:00Z</t:Start>
                <t:End>2026-12-08T08:30:00Z</t:End>
                <t:IsAllDayEvent>false</t:IsAllDayEvent>
                <t:IsCancelled>false</t:IsCancelled>
                <t:Location>Lokale 1</t:Location>
                <t:ExtendedProperty>
                  <t:ExtendedFieldURI PropertySetId="8E1A3B55-2F6D-4C0E-9B7A-5D4C3B2A1F09" PropertyName="BooketHold" PropertyType="String"/>
                  <t:Value>v2;abc;1;0;</t:Value>
                </t:ExtendedProperty>
              </t:CalendarItem>
              <t:CalendarItem>
                <t:ItemId Id="AAMkA2" ChangeKey="DwAAAB2"/>
                <t:Subject>Kursus</t:Subject>
                <t:Start>2026-12-09T00:00:00</t:Start>
                <t:End>2026-12-10T00:00:00</t:End>
                <t:IsAllDayEvent>true</t:IsAllDayEvent>
              </t:CalendarItem>
            </t:Items>
          </m:RootFolder>
        </m:FindItemResponseMessage>
      </m:ResponseMessages>
    </m:FindItemResponse>
  </s:Body>
</s:Envelope>"#;

    #[test]
    fn a_calendar_view_answer_is_read_by_local_names() {
        let env = parse(FIND_ITEM.as_bytes()).unwrap();
        assert_eq!(env.header.unwrap().version.unwrap().major, "15");
        let messages = env.body.content.messages.unwrap().list;
        assert_eq!(messages.len(), 1);
        let root = messages[0].root.as_ref().unwrap();
        assert!(!root.includes_last);
        assert_eq!(root.total, Some(3));
        let items = &root.items.as_ref().unwrap().list;
        assert_eq!(items.len(), 2);
        let a = &items[0];
        assert_eq!(
            a.id.as_ref().unwrap().change_key.as_deref(),
            Some("DwAAAB1")
        );
        assert_eq!(a.subject.as_deref(), Some("Samtale & råd"));
        assert_eq!(a.hold(), Some("v2;abc;1;0;"));
        assert_eq!(a.all_day, Some(false));
        assert_eq!(
            parse_time(a.start.as_deref().unwrap())
                .unwrap()
                .to_rfc3339(),
            "2026-12-08T08:00:00+00:00"
        );
        // Without an offset: UTC, as the time zone context asked.
        let b = &items[1];
        assert_eq!(b.all_day, Some(true));
        assert_eq!(b.hold(), None);
        assert!(parse_time(b.start.as_deref().unwrap()).is_some());
    }

    #[test]
    fn an_error_and_a_server_busy_fault_are_read() {
        let error = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
          <m:UpdateItemResponse xmlns:m="m" xmlns:t="t"><m:ResponseMessages>
          <m:UpdateItemResponseMessage ResponseClass="Error">
            <m:MessageText>The change key passed in the request does not match the current change key for the item.</m:MessageText>
            <m:ResponseCode>ErrorIrresolvableConflict</m:ResponseCode>
            <m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>
            <m:Items/>
          </m:UpdateItemResponseMessage></m:ResponseMessages></m:UpdateItemResponse></s:Body></s:Envelope>"#;
        let m = &parse(error.as_bytes())
            .unwrap()
            .body
            .content
            .messages
            .unwrap()
            .list[0];
        assert!(m.is_error());
        assert_eq!(m.code, "ErrorIrresolvableConflict");
        let fault = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
          <faultcode xmlns:a="a">a:ErrorServerBusy</faultcode>
          <faultstring xml:lang="en-US">The server cannot service this request right now. Try again later.</faultstring>
          <detail><e:ResponseCode xmlns:e="e">ErrorServerBusy</e:ResponseCode>
          <e:Message xmlns:e="e">The server cannot service this request right now. Try again later.</e:Message>
          <t:MessageXml xmlns:t="t"><t:Value Name="BackOffMilliseconds">2500</t:Value></t:MessageXml></detail>
          </s:Fault></s:Body></s:Envelope>"#;
        let r = parse(fault.as_bytes()).unwrap().body.content;
        let d = r.detail.unwrap();
        assert_eq!(d.code.as_deref(), Some("ErrorServerBusy"));
        assert_eq!(
            back_off(d.xml.as_ref()),
            Some(std::time::Duration::from_millis(2500))
        );
    }

    #[test]
    fn requests_escape_what_they_carry() {
        let acting = Acting {
            owner: "a&b@kommune.dk",
            impersonate: true,
        };
        let x = update_item(
            acting,
            "id\"1",
            "ck<",
            Some("Tid <b> - Reserveret"),
            "v2;x",
            false,
        );
        assert!(x.contains("a&amp;b@kommune.dk"));
        assert!(x.contains(r#"Id="id&quot;1" ChangeKey="ck&lt;""#));
        assert!(x.contains("Tid &lt;b&gt; - Reserveret"));
        assert!(x.contains(r#"SendMeetingInvitationsOrCancellations="SendToNone""#));
        assert!(update_item(acting, "i", "c", None, "h", true).contains("SendToAllAndSaveCopy"));
        // Every request is a well-formed document.
        for doc in [
            x,
            find_folder(acting, "Borgerservice"),
            calendar_view(acting, "f", Utc::now(), Utc::now(), 500),
            get_item(acting, "i", true),
            create_attachment(acting, "i", "a.pdf", "application/pdf", "booket-1", "AAAA"),
            delete_attachment(acting, "a"),
            create_message(acting, "to@x.dk", Some("from@x.dk"), "S", "T", false),
            send_item(acting, "i", "c"),
        ] {
            let mut r = quick_xml::Reader::from_str(&doc);
            loop {
                match r.read_event() {
                    Ok(quick_xml::events::Event::Eof) => break,
                    Ok(_) => {}
                    Err(e) => panic!("{e}: {doc}"),
                }
            }
        }
    }
}
